// Plain values of the fleet's protocol, apart from its schemas (protocol.ts) and its NATS client
// (connect.ts): the CLI's flags name them on every start, which must not build either.

/** Where the fleet's NATS is when nothing says otherwise (the flags, FAULTLINE_NATS_URL). */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** An agent's name, and a label key on the wire. */
export const NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
