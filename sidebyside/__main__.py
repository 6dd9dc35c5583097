from sidebyside.cli.main import run

run()
