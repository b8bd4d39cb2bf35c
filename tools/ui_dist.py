"""Write the admin web app as plain static files for S3/CloudFront (``make ui-dist``).

The files are those the Chalice app serves under /ui/, plus the config.json the app would have
answered: where the API is and which Cognito app client signs people in. Upload the folder as it
is (``aws s3 sync build/ui s3://<bucket>/ui/``); serving the API under the same CloudFront domain
(a /api/* behaviour) keeps the browser on one origin, so the API needs no CORS.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parents[1] / "chalicelib" / "ui" / "static"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("build/ui"))
    parser.add_argument(
        "--api-base", required=True, help="the API's base URL, e.g. https://admin.example.com/api/"
    )
    parser.add_argument(
        "--cognito-domain", default="", help="https://<prefix>.auth.<region>.amazoncognito.com"
    )
    parser.add_argument("--cognito-client-id", default="")
    args = parser.parse_args(argv)
    if not args.api_base:
        parser.error("--api-base (API_BASE=...) is required: the browser must know where the API is")
    if bool(args.cognito_domain) != bool(args.cognito_client_id):
        parser.error("give both the Cognito domain and the app client id, or neither")

    shutil.rmtree(args.out, ignore_errors=True)
    shutil.copytree(STATIC_DIR, args.out)
    cognito = (
        {"domain": args.cognito_domain, "client_id": args.cognito_client_id, "scopes": "openid email profile"}
        if args.cognito_domain
        else None
    )
    config = {
        "auth_mode": "cognito" if cognito else "dev",
        "stage": "static",
        "api_base": args.api_base if args.api_base.endswith("/") else args.api_base + "/",
        "dev_token": False,  # static hosting has no token-minting route; paste one instead
        "cognito": cognito,
    }
    (args.out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {sum(1 for p in args.out.rglob('*') if p.is_file())} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
