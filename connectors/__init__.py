"""Provider connectors: one module per provider, behind one registry.

- `base` — the interface (`Connector`, `RenderedMessage`, `Recipient`, `SendResult`), the
  transient / permanent errors, config helpers and the outbound-destination guard.
- `channels` — the channel vocabulary (`Channel`, labels).
- `registry` — connector classes by provider key; `build_connector`, `get_connector_class`,
  `providers_for`, `provider_strings_for`. It imports no provider.
- `apps` — `ConnectorsConfig.ready()` imports `provider_modules`; each registers its class.
- providers: `smtp`, `anymail` (email); `twilio`, `console` (sms); `webhook`, `slack` (chat);
  `fcm`, `webpush` (push). Shared by some: `http` (pooled HTTP, status classification),
  `mail` (Django email backends), `phone` (E.164), `devices` (push fan-out).

A new provider is a module with a `@register`-ed `Connector` subclass that sets `key` and
`channel`, returns a frozen dataclass of its settings from `validate_config`, and is listed
in `ConnectorsConfig.provider_modules`.
"""
