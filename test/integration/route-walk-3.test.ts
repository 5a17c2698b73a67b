// Route walk, slice 3 of 6 (see route-walk.ts): every route whose index % 6 is 2.
import { walkRoutes } from './route-walk.ts';

walkRoutes(2);
