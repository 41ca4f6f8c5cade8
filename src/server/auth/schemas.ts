/**
 * Request and response shapes of the sign-in, user and token routes (the
 * server validates with these and the OpenAPI document is made from them).
 * No response shape has a field for a password, a hash or a session id; the
 * one secret ever answered is a new token, once, in `CreatedTokenSchema`.
 */
import { z } from 'zod';
import { ApiTokenSchema, RoleSchema, TokenNameSchema, UserNameSchema, UserSchema } from '../store.js';

export const MIN_PASSWORD = 8;
export const MAX_PASSWORD = 1024;

export const PasswordSchema = z
  .string()
  .min(MIN_PASSWORD, { error: `expected a password of at least ${MIN_PASSWORD} characters` })
  .max(MAX_PASSWORD, { error: `expected a password of at most ${MAX_PASSWORD} characters` });

export const SignInSchema = z.strictObject({
  // Any string up to a bound: a name that breaks the user-name rule is just a wrong sign-in (401).
  name: z.string().min(1).max(256),
  password: z.string().min(1).max(MAX_PASSWORD),
});

export const SessionInfoSchema = z.object({
  actor: z.string(),
  role: RoleSchema,
  /** `local`: anonymous on loopback without users; `session`: signed in; `token`: an API token. */
  kind: z.enum(['local', 'session', 'token']),
  /** For a session: what `X-CSRF-Token` must carry on a change. */
  csrfToken: z.string().optional(),
  expiresAt: z.string().optional(),
});

export const SignOutSchema = z.object({ signedOut: z.literal(true) });

export const NewUserSchema = z.strictObject({
  name: UserNameSchema,
  password: PasswordSchema,
  role: RoleSchema,
});

export const UpdateUserSchema = z
  .strictObject({
    role: RoleSchema.optional(),
    disabled: z.boolean().optional(),
    password: PasswordSchema.optional(),
  })
  .refine((b) => b.role !== undefined || b.disabled !== undefined || b.password !== undefined, {
    error: 'expected at least one of role, disabled, password',
  });

export const UserParamsSchema = z.strictObject({ name: UserNameSchema });

export const NewTokenSchema = z.strictObject({ name: TokenNameSchema, role: RoleSchema });

export const TokenParamsSchema = z.strictObject({ name: TokenNameSchema });

export const CreatedTokenSchema = z.object({
  token: ApiTokenSchema,
  /** The token to send as `Authorization: Bearer <secret>`. Shown this once: it is not stored. */
  secret: z.string(),
});

export const DeletedSchema = z.object({ deleted: z.string() });

export { ApiTokenSchema, UserSchema };
