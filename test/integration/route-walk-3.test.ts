// Route walk, slice 3 of 3 (see route-walk.ts): every route whose index % 3 is 2.
import { walkRoutes } from './route-walk.ts';

walkRoutes(2);
