// Route walk, slice 1 of 3 (see route-walk.ts): every route whose index % 3 is 0.
import { walkRoutes } from './route-walk.ts';

walkRoutes(0);
