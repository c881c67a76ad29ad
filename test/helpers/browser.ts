// A tiny browser for driving the login pages: a cookie jar, manual redirects, and form
// parsing good enough for the auth server's own server-rendered pages.

export interface Cookie {
  value: string;
  attributes: string;
}

export class Browser {
  readonly cookies = new Map<string, Cookie>();

  cookieHeader(): string {
    return [...this.cookies].map(([k, c]) => `${k}=${c.value}`).join('; ');
  }

  async fetch(url: string, init: { method?: string; form?: Array<[string, string]>; headers?: Record<string, string> } = {}): Promise<Response> {
    const headers: Record<string, string> = { ...init.headers };
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader();
    let body: string | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const attributes = attrs.map((a) => a.trim()).join('; ');
      if (/max-age=0/i.test(attributes) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, { value, attributes });
    }
    return res;
  }
}

export interface ParsedForm {
  action: string;
  fields: Array<[string, string]>;
}

function unescape(s: string): string {
  return s.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The first form on the page: its action and its hidden inputs. */
export function parseForm(html: string): ParsedForm {
  const form = /<form method="post" action="([^"]*)">/.exec(html);
  if (!form) throw new Error(`no form in page: ${html.slice(0, 300)}`);
  const fields: Array<[string, string]> = [];
  for (const m of html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) fields.push([unescape(m[1]!), unescape(m[2]!)]);
  return { action: unescape(form[1]!), fields };
}

/**
 * After an authorization request: the login page (200) is filled in with these credentials
 * and sent (`inspect` sees its form first); any other answer (a redirect, with an SSO session)
 * is returned as it is.
 */
export async function signInIfAsked(
  browser: Browser,
  res: Response,
  username: string,
  password: string,
  inspect?: (login: ParsedForm) => void,
): Promise<Response> {
  if (res.status !== 200) return res;
  const login = parseForm(await res.text());
  inspect?.(login);
  return browser.fetch(login.action, { form: [...login.fields, ['username', username], ['password', password]] });
}

export function withField(fields: Array<[string, string]>, name: string, value: string): Array<[string, string]> {
  return [...fields.filter(([k]) => k !== name), [name, value]];
}

export function withoutField(fields: Array<[string, string]>, name: string): Array<[string, string]> {
  return fields.filter(([k]) => k !== name);
}
