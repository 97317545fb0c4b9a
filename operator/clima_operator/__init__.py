"""The Clima operator: reconciles ClimaPipeline resources into running pipelines."""
