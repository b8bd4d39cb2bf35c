"""Operator tools, run from a shell with the stage's AWS credentials (or against the local stack):

- ``python -m chalicelib.ops.dlq``: what landed in the dead-letter queues; send it back
- ``python -m chalicelib.ops.counts COMM_ID``: check (and repair) a communication's counters

They are command-line tools rather than API routes on purpose: they need rights on the queues
and tables that the admins' API should never hold, and they are for whoever runs the stack.
"""
