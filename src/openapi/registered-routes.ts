/** What recording needs of a Fastify instance (Nest's adapter bundles its own Fastify types). */
interface RouteHooks {
  addHook(name: 'onRoute', hook: (route: { method: string | string[]; url: string }) => void): unknown;
}

/** A route as Fastify registered it. */
export interface RegisteredRoute {
  method: string;
  url: string;
}

const byServer = new WeakMap<object, RegisteredRoute[]>();

/** Records every route registered on `fastify` from now on (tests compare them with the OpenAPI document). */
export function recordRoutes(fastify: RouteHooks): void {
  const routes: RegisteredRoute[] = [];
  byServer.set(fastify, routes);
  fastify.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method: String(method), url: route.url });
  });
}

/** The routes recorded on `fastify`. */
export function registeredRoutes(fastify: object): RegisteredRoute[] {
  return byServer.get(fastify) ?? [];
}
