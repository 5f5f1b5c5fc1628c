"""`make smoke`: one short request through every configured route entry, straight to the real upstreams.

For a user about to deploy (and after OpenAI's 2027 shutdown dates): it needs OPENAI_API_KEY (and AWS
credentials for Polly routes), costs a few cents (estimated before it starts), and never runs in
`make test` or CI. Entry point: `python -m smoke`; the logic is in smoke/check.py.
"""
