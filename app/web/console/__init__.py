"""The admin console door: server-rendered pages under ``/admin/`` (``views``, ``templates/``)."""
