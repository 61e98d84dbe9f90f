"""What tests share that is not a fixture: builders, request helpers, assertions, waiting.

Fixtures live in conftest files (tests/conftest.py for the runtime and clients,
tests/api/conftest.py for the API's shops and staff); no test module imports another.
"""
