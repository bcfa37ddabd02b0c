/**
 * Which `Host` a local page answers: a loopback name or the stack's own host. A page of another
 * site whose name was re-pointed at this machine (DNS rebinding) names its own host, and is
 * refused, so it cannot use the routes that act for the developer (the dashboard, demo tokens).
 */
const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];

/** The host name of a `Host` header, without its port (lower case, as URL gives it); '' when it is none. */
function hostNameOf(host: string | undefined): string {
  try {
    const url = new URL(`http://${host ?? ''}`);
    // Only a host and a port: `a@127.0.0.1` or `a/b` would parse to another host than it names.
    const bare = !url.username && !url.password && url.pathname === '/' && !url.search && !url.hash;
    return bare ? url.hostname : '';
  } catch {
    return '';
  }
}

/** A check of `Host` headers against the loopback names and `hostNames`. */
export function hostCheck(hostNames: readonly string[] = []): (host: string | undefined) => boolean {
  const known = new Set([...LOOPBACK_NAMES, ...hostNames].map((name) => name.toLowerCase()));
  return (host) => known.has(hostNameOf(host));
}
