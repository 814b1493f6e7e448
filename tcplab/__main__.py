from tcplab.launch import main

main()
