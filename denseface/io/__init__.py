"""Reading and writing files: one image reader, one atomic writer, a pickle reader that runs no
code. Above geometry, below every pipeline stage."""
