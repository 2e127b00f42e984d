// The page of the device-flow front (src/server/devicefront.ts): /account/device. The user types the
// code `kpm login --sso NAME` shows (the link the CLI prints has it filled in; a GET never looks a
// code up or changes anything), sees which device asked, and confirms with a POST carrying the
// form's CSRF token (double submit, as the sign-in page). The confirmation uses the code up and
// sends the browser to the provider (authorization code + PKCE S256, state, nonce; what the callback
// must match travels sealed in the same SameSite=Lax cookie as the browser sign-in's, with the
// code's digest added). The provider returns to /account/sso/callback, which hands over here.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import * as oidcClient from 'openid-client';
import type { RequestInfo, ServerContext } from './context.js';
import { ApiError } from './errors.js';
import { utf8 } from '../crypto/bytes.js';
import { layout, PAGE_CSP, pageHeaders } from './pages.js';
import { cookieNames, csrfField, html, noticeHtml, send, sentence, setCookie, when, type Notice } from './webhtml.js';
import * as front from './devicefront.js';

const SSO_MAX_AGE_S = 10 * 60;
const info = (req: FastifyRequest): RequestInfo => ({ ip: req.ip, log: req.log });
const callbackUrl = (ctx: ServerContext) => `${ctx.settings.publicUrl}/account/sso/callback`;

export interface DevicePageDeps {
  formToken(req: FastifyRequest, reply: FastifyReply): string;
  formTokenOk(req: FastifyRequest, form: Record<string, string>): boolean;
}

function codePage(req: FastifyRequest, reply: FastifyReply, deps: DevicePageDeps, o: { status?: number; notice?: Notice; code?: string } = {}): FastifyReply {
  const csrf = deps.formToken(req, reply);
  return send(reply, o.status ?? 200, {
    title: 'Sign in a device',
    narrow: true,
    body: html`<h1>Sign in a device</h1>${noticeHtml(o.notice)}
<form method="post" action="${front.DEVICE_PATH}" class="card">${csrfField(csrf)}
<p>Type the code that <code>kpm login --sso</code> shows on your device.</p>
<label for="code">Code</label><input id="code" name="code" type="text" autocomplete="off" autocapitalize="characters" spellcheck="false" placeholder="BCDF-GHJK" value="${o.code ?? ''}" required>
<button type="submit">Continue</button>
<p class="muted">The next page shows which device asked, before anything happens.</p></form>`,
  });
}

/**
 * The confirmation's form posts here and is answered with a redirect to the provider: a browser
 * applies form-action to that redirect, so this one page also allows the provider's origin.
 */
function confirmPage(req: FastifyRequest, reply: FastifyReply, deps: DevicePageDeps, code: string, p: front.PendingDevice, providerOrigin: string): FastifyReply {
  const csrf = deps.formToken(req, reply);
  const what = p.linkTo ? html`to link a ${p.provider} identity to the kpm account <strong>${p.linkTo}</strong>` : html`to sign in to kpm with ${p.provider}`;
  return pageHeaders(reply)
    .header('content-security-policy', PAGE_CSP.replace("form-action 'self'", `form-action 'self' ${providerOrigin}`))
    .code(200)
    .send(layout({ title: 'Is this your device?', narrow: true, body: html`<h1>Is this your device?</h1>
<section class="card"><p>A kpm command asked ${what}:</p><dl>
<dt>Device</dt><dd>${p.deviceName}</dd>
<dt>Asked from</dt><dd>${p.ip}</dd>
<dt>Asked at</dt><dd>${when(p.createdAt)}</dd>
<dt>Code valid until</dt><dd>${when(p.expiresAt)}</dd>
</dl></section>
<div class="notice error" role="alert">Continue only if you started this yourself, just now, on that device. If someone sent you this code or link, stop here: continuing would let their device into your account.</div>
<form method="post" action="${front.DEVICE_PATH}/confirm" class="card">${csrfField(csrf)}<input type="hidden" name="code" value="${code}">
<p>Continuing takes you to ${p.provider} to confirm who you are. The code then cannot be used again.</p>
<div class="row"><button type="submit">Continue with ${p.provider}</button><a href="/account/">Cancel</a></div></form>`.s }));
}

export function registerDevicePages(app: FastifyInstance, ctx: ServerContext, deps: DevicePageDeps): void {
  const stale = { kind: 'error', text: 'The page was open too long or did not come from this server. Nothing was done; please type the code again.' } as const;
  const codeQuery = { type: 'object', properties: { code: { type: 'string', maxLength: 32 } } };
  // A GET only fills the form in: mail and chat scanners follow links.
  app.get(front.DEVICE_PATH, { schema: { querystring: codeQuery } }, (req, reply) => codePage(req, reply, deps, { code: (req.query as { code?: string }).code }));

  app.post(front.DEVICE_PATH, async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    const code = String(form.code ?? '').slice(0, 32);
    if (!deps.formTokenOk(req, form)) return codePage(req, reply, deps, { status: 403, code, notice: stale });
    try {
      const p = await front.lookUp(ctx, info(req), code);
      const probe = await ctx.oidc!.authorizationUrl(p.provider, { redirectUri: callbackUrl(ctx), state: 'x', nonce: 'x', codeChallenge: 'x' });
      return confirmPage(req, reply, deps, code, p, probe.origin);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return codePage(req, reply, deps, { status: e.status, code, notice: { kind: 'error', text: sentence(e.message) } });
    }
  });

  app.post(`${front.DEVICE_PATH}/confirm`, async (req, reply) => {
    const form = (req.body ?? {}) as Record<string, string>;
    const code = String(form.code ?? '').slice(0, 32);
    if (!deps.formTokenOk(req, form)) return codePage(req, reply, deps, { status: 403, code, notice: stale });
    try {
      const p = await front.confirm(ctx, info(req), code);
      const flow = { provider: p.provider, state: oidcClient.randomState(), nonce: oidcClient.randomNonce(), verifier: oidcClient.randomPKCECodeVerifier(), device: p.codeHash };
      const url = await ctx.oidc!.authorizationUrl(p.provider, {
        redirectUri: callbackUrl(ctx),
        state: flow.state,
        nonce: flow.nonce,
        codeChallenge: await oidcClient.calculatePKCECodeChallenge(flow.verifier),
      });
      setCookie(reply, req, cookieNames(req).sso, encodeURIComponent(ctx.keys.seal('web-sso', 'v1', utf8.encode(JSON.stringify(flow)))), SSO_MAX_AGE_S, 'Lax');
      return reply.code(303).header('location', url.href).send();
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return codePage(req, reply, deps, { status: e.status, notice: { kind: 'error', text: sentence(e.message) } });
    }
  });
}

/** The provider's return to /account/sso/callback for a fronted device sign-in (state already checked). */
export async function deviceCallback(
  ctx: ServerContext,
  req: FastifyRequest,
  reply: FastifyReply,
  flow: { provider: string; state: string; nonce: string; verifier: string; device: string },
  callbackUrl: URL,
): Promise<FastifyReply> {
  try {
    const id = await ctx.oidc!.exchangeCode(flow.provider, callbackUrl, { state: flow.state, nonce: flow.nonce, codeVerifier: flow.verifier });
    const done = await front.complete(ctx, info(req), flow.device, id);
    return send(reply, 200, {
      title: 'Back to your device',
      narrow: true,
      body: html`<h1>Back to your device</h1><div class="card"><p>${done.provider} confirmed who you are. kpm on <strong>${done.deviceName}</strong> finishes the sign-in now: go back to it.</p><p class="muted">You can close this page.</p></div>`,
    });
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return send(reply, e.status, {
      title: 'Not signed in',
      narrow: true,
      body: html`<h1>Not signed in</h1>${noticeHtml({ kind: 'error', text: sentence(e.message) })}<div class="card"><p>Nothing was signed in. Start again with <code>kpm login --sso ${flow.provider}</code> on your device.</p></div>`,
    });
  }
}
