"""The Support context: help tickets between customers and the support team."""
