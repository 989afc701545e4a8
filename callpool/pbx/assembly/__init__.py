"""Pure call assembly: AMI frames and CDRs in, finished calls out. No I/O, no clock.

``events`` parses frames, ``names`` holds Asterisk's event and header names, ``folds``
says how each event changes a call, ``calls`` is the assembler, ``cdr``/``cdr_csv`` read
Asterisk's own accounting, ``dialplan`` tells inbound, outbound and agent legs apart.
"""
