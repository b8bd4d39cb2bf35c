"""The embedded stack: Herald on 127.0.0.1 with moto standing in for AWS.

- ``resources``: tables and queues created on moto from ``infra/template.json``
- ``pollers``:   SQS → worker handler, with partial batch failures and DLQ redrive
- ``ticker``:    the ``@app.schedule`` handlers, called every N seconds with EventBridge's event
- ``stack``:     ``EmbeddedStack`` (moto + app over HTTP + pollers + ticker); ``python -m chalicelib.local``
- ``tokens``:    dev JWTs; ``python -m chalicelib.local.tokens --name "Ada Lovelace"``
- ``demo``:      demo accounts loaded through the API (``--demo``)

Never imported by the deployed app.
"""
