pub mod etcd_server;
