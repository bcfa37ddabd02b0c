// zod/mini with zod's English messages: the classic API's rules and errors at a fraction of its
// bundle. Every handler but the authorizers parses frames, push bodies or jobs, so every one of
// them carries this; the authorizers import zod/mini directly (every message there is our own).
import { config } from 'zod/mini';
import en from 'zod/v4/locales/en.js';

// The classic API sets this on its first schema; mini leaves messages to the caller. Only the
// messages we did not write ourselves use it (a body that is not an object, say).
config(en());

export * from 'zod/mini';
