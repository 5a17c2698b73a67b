declare namespace Cloudflare {
  interface Env {
    K3S_SERVER_URL: string;
    CLUSTER_API_URL: string;
    CLUSTER_SA_TOKEN: string;
    ADMIN_TOKEN: string;
    CLUSTER_CA_HASH: string;
  }
}
