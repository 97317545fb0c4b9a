"""Small pieces every Clima process uses: logging, a health/metrics HTTP endpoint."""
