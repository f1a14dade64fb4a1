"""CTI / telephony adapters: the generic (Zammad-compatible) push API, numbers."""
