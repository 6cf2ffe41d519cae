#!/usr/bin/env python3
"""An SMTP server for the communications tests: aiosmtpd (Debian
python3-aiosmtpd) on 127.0.0.1.

Listens on a free port (prints `listening on <port>` once ready) and appends
every accepted message to the --record file as one JSON line: the envelope
(mail_from, rcpt_tos), whether the session had switched to TLS and who
authenticated, the headers and the subject and body as a mail reader decodes
them, and the raw message.

  --tls-cert F --tls-key K  offer STARTTLS with this certificate
  --require-starttls        refuse everything but EHLO/STARTTLS/QUIT before TLS
  --auth-user U --auth-password P
                            require AUTH (offered only after STARTTLS)
  --reject-first N          answer the first N messages' DATA with --reject-code
"""

import argparse
import asyncio
import email
import email.policy
import json
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def parse_arguments():
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--require-starttls", action="store_true")
    parser.add_argument("--auth-user")
    parser.add_argument("--auth-password")
    parser.add_argument("--reject-first", type=int, default=0)
    parser.add_argument("--reject-code", type=int, default=451)
    return parser.parse_args()


class RecordingHandler:
    def __init__(self, args):
        self.args = args
        self.messages = 0
        self.record = open(args.record, "a", encoding="utf-8")

    async def handle_DATA(self, server, session, envelope):
        self.messages += 1
        rejected = self.messages <= self.args.reject_first
        raw = envelope.original_content or envelope.content
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.record.write(json.dumps({
            "rejected": rejected,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "login": session.auth_data if session.authenticated else None,
            "headers": {name: str(value) for name, value in parsed.items()},
            "subject": str(parsed["subject"]),
            "body": parsed.get_content().replace("\r\n", "\n"),
            "raw": raw.decode("utf-8", "replace"),
        }) + "\n")
        self.record.flush()
        return f"{self.args.reject_code} rejected by the test" if rejected else "250 OK"


def make_authenticator(user, password):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and auth_data.login.decode() == user
                and auth_data.password.decode() == password):
            return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)
    return authenticate


async def serve(args):
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
    handler = RecordingHandler(args)
    authenticator = make_authenticator(args.auth_user, args.auth_password) \
        if args.auth_user else None

    def make_session():
        return SMTP(handler, hostname="localhost", tls_context=context,
                    require_starttls=args.require_starttls, authenticator=authenticator,
                    auth_required=authenticator is not None, auth_require_tls=True)

    server = await asyncio.get_running_loop().create_server(make_session, "127.0.0.1", 0)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(parse_arguments()))
