"""Mutation testing of the suite (tools/mutants.py): the list of single-line
mutants of the method, the engine, the metrics, the sampler and the results
table (`catalogue`), applying one to a copy of the tree (`tree`), and running
the fast tier against it, the expected killers first (`runner`). A mutant the
fast tier does not kill is a line no test guards."""
