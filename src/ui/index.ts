// The operator dashboard (/ui): server-rendered pages behind the admin authentication.
export { createUiRoutes, CONTENT_SECURITY_POLICY } from './routes.tsx';
