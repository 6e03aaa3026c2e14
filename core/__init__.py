"""The platform-free mentorship core: models, use cases, the command catalog and delivery.

Nothing in this package imports a chat-platform library; adapters translate at the edge.
"""
