"""The e2e suites: their shared helpers live in kube_support.py beside this file."""
