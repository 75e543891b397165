"""The knowledge-base quality benchmark: a documentation collection, labelled questions,
and the recall and MRR of a search over them."""
