"""What every coalition service shares: config, store, outbox, events, errors.

Written once here so that members, consultations and grants stay thin:
they load state, call their domain module, save, and emit events.
"""
