"""avatarwire.cli: the ``avatarwire`` command (``speak``, ``emulator``, ``token``)."""
