"""The embedded stack: Herald on 127.0.0.1 with moto standing in for AWS.

- ``resources``: tables, queues, buckets, topics and the events delivery stream created on moto
                 from ``infra/template.json``
- ``pollers``:   SQS → worker handler, with partial batch failures and DLQ redrive
- ``ticker``:    the ``@app.schedule`` handlers, called every N seconds with EventBridge's event
- ``stack``:     ``EmbeddedStack`` (moto + app over HTTP + pollers + ticker + sandboxes);
                 ``python -m chalicelib.local``
- ``sandboxes``: SendGrid / Mailgun / Twilio fakes and the SES / SMS event simulator (signed reports back)
- ``tokens``:    dev JWTs; ``python -m chalicelib.local.tokens --name "Ada Lovelace"``
- ``demo``:      demo accounts loaded through the API (``--demo``)

Never imported by the deployed app.
"""

# The account moto serves by default: in the ARNs and events the embedded stack makes up.
MOTO_ACCOUNT_ID = "123456789012"
