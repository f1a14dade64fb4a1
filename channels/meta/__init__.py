"""Meta channels (Messenger, Instagram, WhatsApp Cloud API): webhook signatures, the
verification handshake, event parsing, outbound sending."""
