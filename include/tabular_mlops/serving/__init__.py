"""Online scoring of the champion (the FastAPI service of the serving issue lands here). It will score with the
same function and the same in-model preprocessing as batch scoring (`tabular_mlops.model.scoring`)."""
