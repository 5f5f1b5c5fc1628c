"""Docker-free `sam local start-api`: SAM CLI's API Gateway emulation with handlers in warm worker processes.

Entry point: `python -m local.server --template template.yaml [--port N]`.
"""
