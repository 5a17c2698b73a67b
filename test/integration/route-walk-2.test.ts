// Route walk, slice 2 of 3 (see route-walk.ts): every route whose index % 3 is 1.
import { walkRoutes } from './route-walk.ts';

walkRoutes(1);
