"""E-mail leaves through the outbox: rows written in the transaction of the change that
caused them, delivered after the commit (``flask deliver``), with retries."""
