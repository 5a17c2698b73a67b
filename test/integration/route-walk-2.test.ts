// Route walk, slice 2 of 6 (see route-walk.ts): every route whose index % 6 is 1.
import { walkRoutes } from './route-walk.ts';

walkRoutes(1);
