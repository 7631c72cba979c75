from flintcloud.cli import run

run()
