"""Registers the DPO keeps (LGPD Art. 37, GDPR Art. 30 and 33(5)): see the issue "DPO interface"."""
