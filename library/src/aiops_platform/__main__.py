from aiops_platform.cli import app

app()
