"""What people did: the activity feed of a partnership and the log an organisation admin reads.

Reads the audit trail (``stappenplan.audit``), which every layer below writes to."""
