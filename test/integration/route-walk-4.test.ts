// Route walk, slice 4 of 6 (see route-walk.ts): every route whose index % 6 is 3.
import { walkRoutes } from './route-walk.ts';

walkRoutes(3);
