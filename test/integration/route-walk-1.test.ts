// Route walk, slice 1 of 6 (see route-walk.ts): every route whose index % 6 is 0.
import { walkRoutes } from './route-walk.ts';

walkRoutes(0);
