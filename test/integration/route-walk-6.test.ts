// Route walk, slice 6 of 6 (see route-walk.ts): every route whose index % 6 is 5.
import { walkRoutes } from './route-walk.ts';

walkRoutes(5);
