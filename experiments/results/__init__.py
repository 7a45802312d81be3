"""Reading the runs' results.json files and turning them into the paper's
tables and figures: the records and their checks (`records`), the config
agreement of the runs averaged together (`configs`), the cells and their
coverage (`cells`), the rendered tables (`tables`), the sensitivity sweep's
series (`sweep`), the figures (`figures`, drawn by `plots`) and the command
of tools/parse_results.py (`summary`). Imports no torch and no Dassl; used by
tools/parse_results.py and the tests."""
