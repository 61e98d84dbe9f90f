"""CommerceApplication's use cases, one module per family; see domain/commerce/application.py."""
